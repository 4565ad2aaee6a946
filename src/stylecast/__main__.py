from stylecast.cli import main

raise SystemExit(main())

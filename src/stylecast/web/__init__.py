"""``stylecast serve``: the web app (live stylization over WebRTC, video jobs, a REST API).

Needs the ``web`` extra (``pip install 'stylecast[web]'``). Nothing here is imported by ``stylecast``
itself or by the stylize path; the app imports torch only to turn an uploaded painting into a style.
"""

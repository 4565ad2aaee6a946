"""Painting -> style: one preprocessing for every entry point, and the style encoder's instant code.

``painting.py`` (torch-free) reads a painting and brings it to the training scale; ``encode.py``
(torch: VGG19 and the model's style encoder) turns it into a code. ``stylize --style painting.jpg``,
the web page's upload, ``add-style`` and training all go through them, so one painting gets one code
whatever the way it came in.
"""

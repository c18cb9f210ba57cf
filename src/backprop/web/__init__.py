"""``backprop playground``: a local web page where a small network learns 2-D data and every
gradient of its backward pass is shown.

``datasets`` makes the 2-D point sets, ``runs`` trains with the library and builds the JSON
STATE, ``export`` writes a run as JSON, a checkpoint or a PyTorch script, ``app`` is the ASGI
application (routes, token, limits). Needs the ``[web]`` extra (Starlette and uvicorn) only for
``app``: the rest is plain NumPy.
"""

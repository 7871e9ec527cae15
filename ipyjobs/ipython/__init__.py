"""The IPython front end: %load_ext, magics, the `&` transformer, notices and widgets.
The only layer that imports IPython, ipywidgets or anywidget; it imports every layer below
it."""

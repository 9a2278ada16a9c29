"""google.colab.output, re-run outside Colab: nothing to clear or enable."""


def clear(*args, **kwargs):
    pass


def enable_custom_widget_manager(*args, **kwargs):
    pass

from grader.discover.layout import discover, missing_roles

__all__ = ["discover", "missing_roles"]

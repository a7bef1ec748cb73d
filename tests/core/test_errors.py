from hwutils.core.errors import AccessError, ConfigError, DataError, HwutilsError


def test_errors_render_as_one_line_in_ipython():
    for cls in (ConfigError, DataError, AccessError):
        error = cls("what went wrong and how to fix it")
        assert isinstance(error, HwutilsError)
        assert error._render_traceback_() == [f"{cls.__name__}: what went wrong and how to fix it"]

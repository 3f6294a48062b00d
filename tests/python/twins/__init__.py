"""Pure-Python twins of the C++ envs, used only by the tests."""

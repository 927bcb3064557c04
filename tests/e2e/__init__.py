import pytest

# The scenarios' and the harness's asserts get pytest's detailed failure messages too.
pytest.register_assert_rewrite("tests.e2e.harness", "tests.e2e.scenarios")

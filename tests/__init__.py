# The pseudonymization salt tests clean with (any value of the minimum length works).
TEST_SALT = "tests-salt-0123456789"

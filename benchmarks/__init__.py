# The pseudonymization salt benchmarks clean with (pseudonyms do not affect any measured figure).
BENCHMARK_SALT = "benchmark-salt-0123456789"

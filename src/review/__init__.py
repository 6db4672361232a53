"""Pull-request review: is a change real or noise (assessment), the report, the gate."""

"""Great Expectations suites that gate each extract and the cohort file."""

"""The programme's eligibility frameworks (versioned YAML) and their evaluator."""

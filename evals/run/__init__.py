"""Running a suite: plan, schedule, send, measure and write records."""

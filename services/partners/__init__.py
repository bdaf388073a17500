"""Partner cities, organisations, people, anniversaries and relationship health."""

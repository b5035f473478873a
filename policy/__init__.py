"""The shipways policy pack: security rules over every stack's resources (see rules.py)."""

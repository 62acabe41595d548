"""Faults and load (issue 7): each test is a real run on a private stack."""

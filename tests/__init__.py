"""The test suite: unit/, integration/ and e2e/, sharing the fixtures of conftest.py and the fakes of fakes/."""

"""Checking a student's work: answer keys, the safe answer reader, verdicts, the mistake catalogue and the tutor."""

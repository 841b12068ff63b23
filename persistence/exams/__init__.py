"""Exams: the question bank, where each exam may be taken, solo attempts and their proctoring."""

"""Scheduled IELTS/CEFR Speaking (000 §14): slots an exam's owner publishes, bookings, and
whether each call took place."""

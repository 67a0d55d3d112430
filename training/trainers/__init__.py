"""Trainers per family: paired images, unpaired images, few-shot images, videos; the shared loop in base."""

"""Labels (reservation, complaint, catering, allergy...) with a colour, and putting them on conversations."""

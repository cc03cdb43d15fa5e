"""deepnotes.optim"""

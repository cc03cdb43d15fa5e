"""deepnotes.functional"""

"""deepnotes.lessons"""

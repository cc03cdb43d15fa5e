"""deepnotes.nn"""

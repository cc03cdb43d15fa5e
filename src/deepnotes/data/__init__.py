"""deepnotes.data"""

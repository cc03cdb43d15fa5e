"""deepnotes.models"""

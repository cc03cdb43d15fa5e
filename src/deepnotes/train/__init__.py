"""deepnotes.train"""

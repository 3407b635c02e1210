"""courseware"""

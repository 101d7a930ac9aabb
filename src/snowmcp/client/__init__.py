"""snowmcp.client"""

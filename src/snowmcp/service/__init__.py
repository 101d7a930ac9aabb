"""snowmcp.service"""

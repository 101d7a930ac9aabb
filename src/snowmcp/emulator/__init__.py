"""snowmcp.emulator"""

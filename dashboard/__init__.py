"""The FastAPI app: REST API, websocket push, and the operators' and families' web pages."""

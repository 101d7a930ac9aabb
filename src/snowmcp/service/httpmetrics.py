"""Count every HTTP answer by status code (`snowmcp_http_responses_total{code}`).

Plain ASGI middleware, outermost, so answers the request limits give (408, 413, 431) and
Starlette's own errors (404, 405, 500) are counted with the routes' answers: the 5xx
alert (monitoring/) needs the whole picture, not only what the handlers chose to count.
The Metrics object is built with the app (`build_app`) and handed to the Service its
lifespan starts, so this middleware holds it from the start instead of looking it up on
`app.state` for every request.
"""

from __future__ import annotations

from snowmcp.service.limits import ASGIApp, Message, Receive, Scope, Send
from snowmcp.service.metrics import Metrics


class ResponseCounter:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.count = metrics.response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        count = self.count
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                count(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            # Starlette's ServerErrorMiddleware, outside this one, answers 500 for what escapes here.
            if not started:
                count(500)
            raise

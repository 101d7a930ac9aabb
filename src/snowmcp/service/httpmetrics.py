"""Count every HTTP answer by status code (`snowmcp_http_responses_total{code}`).

Plain ASGI middleware, outermost, so answers the request limits give (408, 413, 431) and
Starlette's own errors (404, 405, 500) are counted with the routes' answers: the 5xx
alert (monitoring/) needs the whole picture, not only what the handlers chose to count.
The Metrics object lives on `app.state.service` (built in the lifespan); before it
exists (or in an app without one) nothing is counted.
"""

from __future__ import annotations

from snowmcp.service.limits import ASGIApp, Message, Receive, Scope, Send


class ResponseCounter:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        service = getattr(getattr(app, "state", None), "service", None)
        if service is None:
            await self.app(scope, receive, send)
            return
        responses = service.metrics.responses
        started = False

        async def counting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                responses.labels(str(message["status"])).inc()
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        except Exception:
            # Starlette's ServerErrorMiddleware, outside this one, answers 500 for what escapes here.
            if not started:
                responses.labels("500").inc()
            raise

"""The web app (layer 3): pages, JSON API and (later) the screen-pop websocket.

``app.create_app`` builds it; ``auth`` puts everything behind a login; ``errors`` renders every
failure in one place; ``i18n`` and ``templating`` speak the user's language and time zone.
"""

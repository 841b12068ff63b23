"""The platform's HTTP API (PLATFORM.md): accounts, results, and the areas that follow.

`gameserver` wires `persistence` in here (DESIGN.md's dependency rule): each area's routes live
in a module of their own and are listed by `platform_routes()`.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def platform_routes() -> list[BaseRoute]:
    from gameserver.platform.results_api import results_routes

    routes: list[BaseRoute] = [*results_routes()]
    try:  # areas arrive one by one; each registers here
        from gameserver.platform.accounts_api import accounts_routes
    except ImportError:
        pass
    else:
        routes.extend(accounts_routes())
    try:
        from gameserver.platform.wallet_api import wallet_routes
    except ImportError:
        pass
    else:
        routes.extend(wallet_routes())
    try:
        from gameserver.platform.attempts_api import attempts_routes
        from gameserver.platform.exams_api import exams_routes
    except ImportError:
        pass
    else:
        routes.extend([*exams_routes(), *attempts_routes()])
    try:
        from gameserver.platform.ielts_api import ielts_routes
    except ImportError:
        pass
    else:
        routes.extend(ielts_routes())
    try:
        from gameserver.platform.speaking_api import speaking_routes
    except ImportError:
        pass
    else:
        routes.extend(speaking_routes())
    return routes

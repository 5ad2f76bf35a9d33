"""``hedgectl notify``: check that Telegram notifications reach the configured chat."""

from __future__ import annotations

import typer

from hedgectl.cli.paper import PAPER_OPTION, command_env
from hedgectl.cli.state import run, state
from hedgectl.errors import ExitCode, UsageError

app = typer.Typer(help="Telegram notifications.", no_args_is_help=True)


@app.command("test")
def test_message(
    ctx: typer.Context,
    paper: bool = PAPER_OPTION,
    json_output: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send a test message to the configured Telegram chat and report what Telegram answered."""
    from hedgectl.notify.telegram import TelegramNotifier, send_test_message

    app_state = state(ctx)
    terminal = app_state.terminal(json_mode=json_output)
    with command_env(app_state, paper=paper) as env:
        telegram = env.config.telegram
        if not (telegram.bot_token and telegram.chat_id):
            raise UsageError(
                "Telegram is not configured: set HEDGECTL_TELEGRAM_BOT_TOKEN and HEDGECTL_TELEGRAM_CHAT_ID "
                "(or [telegram] key_file)"
            )

        async def send():
            async with TelegramNotifier(telegram.bot_token.reveal(), telegram.chat_id,
                                        base_url=telegram.base_url) as notifier:
                return await send_test_message(notifier)

        result = run(send())
    data = {"ok": result.ok, "message_id": result.message_id, "status_code": result.status_code,
            "attempts": result.attempts, "error": result.error}
    terminal.result(data, lambda: f"test message delivered (message id {result.message_id})" if result.ok
                    else f"[red]test message failed:[/red] {result.error}")
    if not result.ok:
        raise typer.Exit(ExitCode.FAILURE)

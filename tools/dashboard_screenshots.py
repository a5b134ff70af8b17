"""Screenshots of the dashboard's practice and client pages for docs/, from a seeded demo practice.

Runs the real bot and dashboard on a temporary SQLite file with made-up clients (``benchmarks._practice``),
signs a coach in through a one-time link, and photographs the pages in Debian's headless Chromium at a
phone's width and a laptop's.

    .venv/bin/python -m tools.dashboard_screenshots [--out docs/images]     (make screenshots)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from benchmarks._practice import NOW, client_id, config_text, seed
from bot.app.builder import build_bot
from bot.app.web_servers import web_servers
from bot.coaching.dashboard_link import issue_link
from bot.config import load_config
from bot.config.message_files import load_catalog
from bot.config.question_sets import load_question_sets
from bot.store import Database
from bot.timing.clock import ManualClock

CHROMIUM = "/usr/bin/chromium"
PUBLIC = "http://dashboard.example"


async def shoot(out: Path) -> list[Path]:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        path = directory / "config.yaml"
        path.write_text(config_text(2, 8, PUBLIC), encoding="utf-8")
        config = load_config(path)
        database = Database(f"sqlite+aiosqlite:///{directory / 'demo.sqlite3'}")
        clock = ManualClock(NOW)
        bot = build_bot(
            config=config,
            question_sets=load_question_sets(config, path),
            texts=load_catalog(),
            database=database,
            adapters={},
            clock=clock,
            worker_id="screenshots",
            outbox_loop=False,
        )
        await bot.start()
        try:
            await seed(database, [client_id(c, i) for c in range(2) for i in range(8)], 20, seed=3)
            async with database.transaction() as session:
                link = await issue_link(session, "coach00", PUBLIC, clock.now())
            [server] = web_servers(bot, clock, lambda: True)
            await server.start()
            try:
                return await _photograph(f"http://127.0.0.1:{server.port}", link.removeprefix(PUBLIC), out)
            finally:
                await server.stop()
        finally:
            await bot.stop()


async def _photograph(base: str, link: str, out: Path) -> list[Path]:
    written = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            await page.goto(base + link)
            await page.get_by_role("button", name="Open the dashboard").click()
            await page.wait_for_url(base + "/dashboard/")
            written.append(out / "dashboard-practice.png")
            await page.screenshot(path=str(written[-1]), full_page=True)
            # The client most in need of attention is the first row.
            await page.locator("table.practice tbody tr a").first.click()
            await page.wait_for_load_state()
            await page.set_viewport_size({"width": 420, "height": 900})  # a phone
            written.append(out / "dashboard-client-phone.png")
            await page.screenshot(path=str(written[-1]), full_page=False)
        finally:
            await browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("docs/images"))
    args = parser.parse_args()
    for written in asyncio.run(shoot(args.out)):
        print(written)


if __name__ == "__main__":
    main()

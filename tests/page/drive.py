"""Drives WADM's web page in headless Chromium (Debian's chromium and chromedriver) for
tests/page.rs: python3 drive.py URL KEY SCREENSHOT

Steps, each reported as one JSON line on stdout:
  1. without a key: the 401 the page shows;
  2. with the key typed into the page's field: the symbol list, the POC/VAH/VAL labels and the
     footprint cells, once filled, and the console errors meanwhile (none expected);
  3. after the test writes "drop" on stdin (it has dropped a feed): seconds until the status
     strip shows that feed red, then a screenshot, and how much wider than a phone's screen
     (390 px) the page is (0 expected), with a second screenshot.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

DEADLINE = 30.0


def say(**fields):
    print(json.dumps(fields), flush=True)


def wait(what, condition, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            value = condition()
        except StaleElementReferenceException:
            # The page re-rendered the element between finding and reading it: look again.
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def main():
    url, key, shot = sys.argv[1], sys.argv[2], sys.argv[3]
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url)
        message = wait("the 401", lambda: "401" in driver.find_element(By.ID, "message").text and driver.find_element(By.ID, "message").text)
        say(step="unauthorized", message=message)
        driver.get_log("browser")  # the 401s are expected: start counting afresh
        driver.find_element(By.ID, "key").send_keys(key)
        driver.find_element(By.CSS_SELECTOR, "#keyform button").click()
        wait("the labels", lambda: driver.find_element(By.ID, "poc").text not in ("", "-"))
        wait("footprint cells", lambda: driver.find_elements(By.CSS_SELECTOR, "[data-testid^=fp-]"))
        cells = [
            {"testid": c.get_attribute("data-testid"), "bid": c.get_attribute("data-bid"), "ask": c.get_attribute("data-ask"), "text": c.text}
            for c in driver.find_elements(By.CSS_SELECTOR, "[data-testid^=fp-]")
        ]
        say(
            step="loaded",
            symbols=[o.text for o in driver.find_elements(By.CSS_SELECTOR, "#symbol option")],
            venue=driver.find_element(By.ID, "venue").get_attribute("value"),
            levels={k: driver.find_element(By.ID, k).text for k in ("poc", "vah", "val")},
            cells=cells,
            strip=[s.text for s in driver.find_elements(By.CSS_SELECTOR, "#status span")],
            message=driver.find_element(By.ID, "message").text,
            console=[e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"],
        )
        if sys.stdin.readline().strip() != "drop":
            raise SystemExit("expected drop")
        started = time.monotonic()
        feed = sys.argv[4] if len(sys.argv) > 4 else "binance-spot"
        wait("the feed red", lambda: "bad" in (driver.find_element(By.CSS_SELECTOR, f"[data-testid=feed-{feed}]").get_attribute("class") or ""), 15.0)
        seconds = time.monotonic() - started
        driver.save_screenshot(shot)
        # A phone's width: nothing wider than the screen (the footprint scrolls in its box).
        driver.set_window_size(390, 844)
        time.sleep(0.5)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        driver.save_screenshot(shot.replace(".png", "-phone.png"))
        say(step="red", seconds=seconds, phone_overflow=overflow, console=[e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"])
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

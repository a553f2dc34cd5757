"""The ``k8spod`` connection form of the Airflow UI, in a real headless Chromium.

A user logs in to a real ``airflow api-server`` (simple auth manager), adds a connection of our type through
the form (API server URL, bearer token, CA certificate, namespace), sees our fields with their labels and
descriptions, secrets in masked inputs, and saves it; then a task reads that connection back from the
metadata database and its hook runs a pod on the local cluster with it. A screenshot of the filled form is
kept (under the test's tmp dir, copied to ``$K8SPOD_ARTIFACTS`` when set).

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install-browser.sh``) and Selenium (test
extra). Skipped only when neither the browser nor its driver is installed and ``K8SPOD_REQUIRE_BROWSER`` is
unset (``.ci/run`` sets it, so CI cannot skip this test).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from airflow_provider_k8spod.hooks.fields import EXTRA_FIELDS, XCOM_TRANSPORTS
from airflow_provider_k8spod.testing.kubeconfig import current_server, read
from tests.operators.kpo import dag_source

WAIT = 60  # seconds for any one element of the React UI (the machine may be busy)
CONN_ID = "k8s_from_the_form"
NAMESPACE = "form-ns"


def _browser_executables() -> tuple[str | None, str | None]:
    browser = next(
        (p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None
    )
    return browser, shutil.which("chromedriver")


CHROMIUM, CHROMEDRIVER = _browser_executables()

pytestmark = [
    # Decided at collection, before the session's API server is started for nothing.
    pytest.mark.skipif(
        CHROMIUM is None and CHROMEDRIVER is None and "K8SPOD_REQUIRE_BROWSER" not in os.environ,
        reason="chromium and chromedriver are not installed (run scripts/install-browser.sh; "
        "set K8SPOD_REQUIRE_BROWSER=1 to make this a failure)",
    ),
    pytest.mark.airflow_db,
    # The API server may already run for the session; when it does not, its start-up comes first.
    pytest.mark.timeout(600),
]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium driven through Debian's chromedriver (never a downloaded browser or driver)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        missing = " and ".join(
            name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if path is None
        )
        pytest.fail(f"{missing} not found on PATH: run scripts/install-browser.sh")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed: it is in the test extra (bash scripts/bootstrap.sh)")

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1280,2200",
        "--disable-gpu",
        "--disable-extensions",
        "--no-first-run",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _admin_password() -> str:
    """The password ``airflow api-server`` generated for the simple auth manager's ``admin`` user."""
    path = Path(os.environ["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    return str(json.loads(path.read_text())["admin"])


def _keep_artifact(path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Print where the screenshot is (past pytest's capture), and copy it to ``$K8SPOD_ARTIFACTS``."""
    lines = [f"screenshot of the filled connection form: {path}"]
    artifacts = os.environ.get("K8SPOD_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(artifacts) / path.name)
        lines.append(f"copied to {Path(artifacts) / path.name}")
    with capfd.disabled():
        print("\n" + "\n".join(lines))


class ConnectionForm:
    """What a user does in the UI, step by step; every step waits for the element it needs."""

    def __init__(self, driver: Any, base_url: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base_url = base_url
        self.wait = WebDriverWait(driver, WAIT)

    def until(self, condition: Any) -> Any:
        """Wait for ``condition``, through the UI's own redirects (the login page and back): a page that
        navigates away while it is being looked at is looked at again."""
        from selenium.common.exceptions import WebDriverException

        def check(driver: Any) -> Any:
            try:
                return condition(driver)
            except WebDriverException as exc:
                if "navigat" in str(exc.msg or ""):
                    return False
                raise

        return self.wait.until(check)

    def visible(self, by: str, value: str) -> Any:
        from selenium.webdriver.support import expected_conditions as ec

        return self.until(ec.visibility_of_element_located((by, value)))

    def button(self, text: str) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        xpath = f"//button[normalize-space(.)='{text}']"
        return self.until(ec.element_to_be_clickable((By.XPATH, xpath)))

    def log_in(self, user: str, password: str) -> None:
        """Open the connections page; the UI sends an anonymous user to the login page and back."""
        from selenium.webdriver.common.by import By

        self.driver.get(f"{self.base_url}/connections")
        self.visible(By.NAME, "username").send_keys(user)
        self.driver.find_element(By.NAME, "password").send_keys(password)
        self.button("Sign in").click()

    def add_connection(self, conn_id: str, type_label: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.button("Add Connection").click()
        self.visible(By.NAME, "connection_id").send_keys(conn_id)
        self.visible(By.CSS_SELECTOR, "input[role='combobox']").send_keys(type_label)
        option = self.until(
            ec.element_to_be_clickable((By.XPATH, f"//*[@role='option' and .='{type_label}']"))
        )
        option.click()
        self.visible(By.NAME, "host")

    def field(self, name: str) -> tuple[Any, str, str]:
        """(input, label text, helper text) of the form field whose input is named ``name``."""
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.NAME, name)
        root = element.find_element(By.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root'][1]")
        label = root.find_element(By.CSS_SELECTOR, "label[data-part='label']").text.strip()
        helpers = root.find_elements(By.CSS_SELECTOR, "[data-part='helper-text']")
        return element, label, helpers[0].text.strip() if helpers else ""

    def paste(self, element: Any, text: str) -> None:
        """Put ``text`` into a field in one input event, as a paste does (typing key by key into the
        React-controlled fields can lose a character on a busy machine), and check it arrived whole."""
        element.click()
        self.driver.execute_cdp_cmd("Input.insertText", {"text": text})
        self.until(lambda _: element.get_attribute("value") == text)

    def choose(self, name: str, label: str) -> list[str]:
        """Open the choice list of field ``name``, pick the option shown as ``label``; return every option
        as the list showed it."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        hidden = self.driver.find_element(By.NAME, name)
        root = hidden.find_element(By.XPATH, "./ancestor::div[@data-scope='field' and @data-part='root'][1]")
        root.find_element(By.CSS_SELECTOR, "input[role='combobox']").click()
        self.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role='option']")))
        options = self.driver.find_elements(By.CSS_SELECTOR, "[role='option']")
        shown = [o.text.strip() for o in options]
        assert label in shown, f"no option {label!r} in {shown}"
        options[shown.index(label)].click()
        self.until(lambda _: label in root.text)  # the list closed on the choice
        return shown

    def open_extra_fields(self) -> None:
        from selenium.webdriver.common.by import By

        self.button("Extra Fields").click()
        self.visible(By.NAME, "element_namespace")

    def save(self, conn_id: str) -> None:
        """Save, and wait until the dialog is gone and the connection is listed."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.button("Save").click()

        def closed_or_refused(driver: Any) -> Any:
            alerts = driver.find_elements(By.CSS_SELECTOR, "[role='dialog'] .chakra-alert__description")
            if any(alert.text.strip() for alert in alerts):
                return alerts
            return ec.invisibility_of_element_located((By.CSS_SELECTOR, "[role='dialog']"))(driver)

        outcome = self.until(closed_or_refused)
        if isinstance(outcome, list):
            raise AssertionError("the UI refused the connection: " + " ".join(a.text for a in outcome))
        self.visible(By.XPATH, f"//*[normalize-space(.)='{conn_id}']")


def fill_in_the_form(
    form: ConnectionForm, *, server: str, token: str, ca_text: str, screenshot: Path
) -> None:
    """Add a ``k8spod`` connection through the form, checking our fields on the way, and save it."""
    from selenium.webdriver.common.by import By

    form.add_connection(CONN_ID, "Kubernetes Pods (k8spod)")

    # Standard fields: relabelled, with placeholders; the token is masked; schema/login/port hidden.
    host, host_label, _ = form.field("host")
    password, password_label, _ = form.field("password")
    assert (host_label, password_label) == ("API server URL", "Bearer token")
    assert "https://" in (host.get_attribute("placeholder") or "")
    assert "token" in (password.get_attribute("placeholder") or "")
    assert password.get_attribute("type") == "password"
    for hidden in ("schema", "login", "port"):
        assert not form.driver.find_elements(By.NAME, hidden), f"standard field {hidden!r} should be hidden"
    form.paste(host, server)
    form.paste(password, token)  # shown as dots

    # Extra fields (the accordion closes the standard ones): every extra the hook reads, with its label
    # and description, in the right widget.
    form.open_extra_fields()
    from airflow_provider_k8spod._provider_info import connection_fields

    choices = {name for name, field in connection_fields().items() if "enum" in field.get("schema", {})}
    for name, (kind, label, description) in EXTRA_FIELDS.items():
        element, shown_label, helper = form.field(f"element_{name}")
        assert (shown_label, helper) == (label, description), name
        widget = (element.tag_name, element.get_attribute("type"))
        expected = {
            "bool": ("input", "checkbox"),
            "secret": ("input", "password"),  # masked
            "text": ("textarea", "textarea"),  # keeps line breaks
        }.get(kind, ("input", "text"))
        if name in choices:
            expected = ("input", "hidden")  # a choice list: the UI's select keeps its value in a hidden input
        assert widget == expected, f"{name}: {widget}, expected {expected}"

    # Fill it in as a user would: the PEM as it is (several lines), a namespace, an XCom transport picked
    # from a list that names each choice (not "null" for the empty one).
    form.paste(form.field("element_ca_cert")[0], ca_text)
    form.paste(form.field("element_namespace")[0], NAMESPACE)
    shown = form.choose("element_xcom_transport", XCOM_TRANSPORTS["logs"])
    schema = connection_fields()["xcom_transport"]["schema"]
    assert shown == [schema["values_display"]["null" if v is None else v] for v in schema["enum"]], shown
    assert "null" not in shown
    dialog = form.driver.find_element(By.CSS_SELECTOR, "[role='dialog']")
    assert dialog.screenshot(str(screenshot)), "screenshot failed"

    form.save(CONN_ID)
    # The token never comes back to the browser once saved.
    assert token not in form.driver.page_source


def test_connection_form_creates_a_connection_a_task_uses(
    airflow_api_server, local_cluster, browser, run_dag, tmp_path, capfd
):
    server, token, ca_pem = current_server(read(local_cluster.kubeconfig_path))
    api = kubernetes.config.new_client_from_config(local_cluster.kubeconfig_path)
    try:
        kubernetes.client.CoreV1Api(api).create_namespace({"metadata": {"name": NAMESPACE}})
    finally:
        api.close()
    ca_text = ca_pem.decode().strip()
    assert ca_text.count("\n") > 2  # a real multi-line PEM: the form must keep its line breaks

    form = ConnectionForm(browser, airflow_api_server)
    form.log_in("admin", _admin_password())
    screenshot = tmp_path / "connection-form.png"
    try:
        fill_in_the_form(form, server=server, token=token, ca_text=ca_text, screenshot=screenshot)
    finally:
        if screenshot.exists():  # kept when saving fails too
            _keep_artifact(screenshot, capfd)

    # A task reads the saved connection from the metadata database, as any task does, and its hook runs
    # a pod with it: in the connection's namespace, trusting the CA pasted in the form, its XCom result
    # coming back through the transport chosen in the form (no sidecar, no exec).
    script = "echo hello from the form; echo '\"via the log\"' > /airflow/xcom/return.json"
    result = run_dag(
        dag_source(
            "connection_from_the_form",
            f"""kubernetes_conn_id={CONN_ID!r}, image="busybox:1.36", do_xcom_push=True,
            cmds=["sh", "-c", {script!r}]""",
        )
    )
    assert result.task_states == {"task": "success"}, result.log[-3000:]
    assert "[base] hello from the form" in result.log
    assert result.xcom("task") == "via the log"
    assert local_cluster.stats().get("create pods/exec", 0) == 0
    assert result.xcom("task", "pod_namespace") == NAMESPACE
    assert local_cluster.pods() == []

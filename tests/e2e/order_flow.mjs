// The dashboard's end-to-end scenario in headless Chromium (driven by tests/e2e/test_dashboard.py).
//
//   node order_flow.mjs BASE_URL OUT_DIR USERNAME PASSWORD DEFINITION_FILE
//
// It talks with the test over stdin/stdout: it prints "WAITING_FOR_WORKER <instanceId>" once the
// instance page shows the order held at its first service task (no worker runs yet), and goes on
// when the test, having started the worker, writes a line. Every step that fails throws: the
// exit code and stderr say which. Screenshots go to OUT_DIR.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import path from "node:path";

const require = createRequire(path.join(process.env.DASHBOARD_DIR, "package.json"));
const { chromium } = require("playwright-core");

const [base, out, username, password, definitionFile] = process.argv.slice(2);
const LIVE_MS = 60_000; // a bound on waiting for what must happen, not a benchmark
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
let shot = 0;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: process.env.CHROMIUM_FLAGS.split(" "),
});
const problems = [];
let outage = false;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
  page.setDefaultTimeout(LIVE_MS);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !outage) problems.push(`console error: ${message.text()}`);
  });
  const screenshot = async (name) => {
    shot += 1;
    await page.screenshot({ path: path.join(out, `${String(shot).padStart(2, "0")}-${name}.png`), fullPage: true });
  };

  // log in (a wrong password first: the refusal is shown)
  await page.goto(`${base}/`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", "not the password");
  await page.click("button[type=submit]");
  await page.waitForSelector(".login .error");
  await screenshot("login-refused");
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=counters]");
  await page.waitForSelector("[data-testid=connection]:has-text('connected')");
  await screenshot("overview");

  // deploy: an invalid definition shows its problems at their paths, then the real one
  await page.goto(`${base}/#/definitions`);
  await page.fill("[data-testid=deploy] textarea", JSON.stringify({ key: "broken", name: "Broken", version: "1", steps: [{ id: "a", type: "user_task", next: ["nowhere"] }] }));
  await page.click("[data-testid=deploy] button[type=submit]");
  const listed = await page.waitForSelector("[data-testid=problems] li code");
  const where = await listed.textContent();
  if (!where.startsWith("$.")) throw new Error(`a problem without its JSON path: ${where}`);
  await screenshot("deploy-problems");
  await page.setInputFiles("[data-testid=deploy] input[type=file]", definitionFile);
  await page.waitForFunction(() => document.querySelector("[data-testid=deploy] textarea").value.includes("order-processing"));
  await page.click("[data-testid=deploy] button[type=submit]");
  await page.waitForSelector("[data-testid=deploy] .ok");
  await page.click("[data-testid=definitions] a:has-text('order-processing')");
  await page.waitForSelector("[data-testid=definition] [data-testid=diagram]");

  // start an order over 1000: it needs a manager's approval
  await page.fill("[data-testid=start] input[name=businessKey]", "E2E-ORDER-1");
  await page.fill(
    "[data-testid=start] textarea[name=variables]",
    JSON.stringify({ order_id: "E2E-ORDER-1", customer_id: "CUST-456", total_amount: 1999.99 }),
  );
  await page.click("[data-testid=start] button[type=submit]");
  await page.waitForURL(/#\/instances\/\d+$/);
  const instanceId = Number(page.url().split("/").pop());
  await page.waitForSelector("[data-step=validate_order][data-current=true]");
  await screenshot("instance-at-validation");

  // the test now crashes the API process and starts it again, then starts the worker: the
  // open page must reconnect by itself, resume its feed from the last seq, and move to the
  // manager's approval
  await page.evaluate(() => {
    const badge = document.querySelector("[data-testid=connection]");
    window.__states = [badge.textContent];
    new MutationObserver(() => window.__states.push(badge.textContent)).observe(badge, { childList: true, characterData: true, subtree: true });
  });
  const reloads = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  outage = true; // what the browser logs while the server is away is expected
  console.log(`WAITING_FOR_WORKER ${instanceId}`);
  await lines.next();
  await page.waitForSelector("[data-step=manager_approval][data-current=true]");
  await page.waitForSelector("[data-testid=connection]:has-text('connected')");
  outage = false;
  const states = await page.evaluate(() => window.__states);
  if (!states.includes("reconnecting")) throw new Error(`no reconnect seen: ${states.join(" > ")}`);
  console.log(`CONNECTION ${states.join(" > ")}`);
  await page.waitForSelector("[data-testid=timeline] li:has-text('manager_approval')");
  const stillSamePage = await page.evaluate(() => performance.getEntriesByType("navigation").length);
  if (stillSamePage !== reloads) throw new Error("the page was reloaded: not a live update");
  await screenshot("instance-at-manager-approval");

  // the task list: claim the approval, complete it with its form
  await page.click("header nav a:has-text('My tasks')");
  const task = await page.waitForSelector("ul.tasks li:has-text('E2E-ORDER-1') a");
  await page.waitForSelector("ul.tasks li:has-text('E2E-ORDER-1') [data-testid=escalation] .badge");
  await task.click();
  await page.click("[data-testid=claim]");
  await page.waitForSelector("[data-testid=task-panel] form");
  await page.check("#field-approved");
  await page.fill("#field-comments", "审批通过 (e2e)");
  await screenshot("task-form");
  await page.click("[data-testid=complete]");
  await page.waitForSelector("[data-testid=task-done]");
  await screenshot("task-completed");

  // back to the instance: it completes live (the risk checks and shipping run on the worker)
  await page.goto(`${base}/#/instances/${instanceId}`);
  await page.waitForSelector(".title .status-completed");
  await page.waitForSelector("[data-testid=timeline] li:has-text('instance_completed')");
  await screenshot("instance-completed");

  await page.goto(`${base}/#/instances?key=order-processing`);
  await page.waitForSelector(`[data-testid=instances] tr[data-instance="${instanceId}"] .status-completed`);
  await screenshot("instances");

  // an order its validation refuses raises an incident: seen on its page and in the incident
  // list, its variables corrected, retried from the list, and then it completes
  await page.goto(`${base}/#/definitions`);
  await page.click("[data-testid=definitions] a:has-text('order-processing')");
  await page.fill("[data-testid=start] input[name=businessKey]", "E2E-ORDER-2");
  await page.fill("[data-testid=start] textarea[name=variables]", JSON.stringify({ order_id: "E2E-ORDER-2", total_amount: -5 }));
  await page.click("[data-testid=start] button[type=submit]");
  await page.waitForURL(/#\/instances\/\d+$/);
  const failing = page.url().split("#")[1];
  await page.waitForSelector(".card:has(h3:has-text('Incidents')) li:has-text('ORDER_INVALID')");
  await page.click("header nav a:has-text('Incidents')");
  await page.waitForSelector("[data-testid=incidents] tr:has-text('ORDER_INVALID')");
  await screenshot("incidents");
  await page.goto(`${base}/#${failing}`);
  await page.click("[data-testid=edit-variables]");
  await page.fill("[data-testid=variables] textarea", JSON.stringify({ total_amount: 500 }));
  await page.click("[data-testid=variables] button[type=submit]");
  await page.waitForSelector("[data-testid=variables] pre:has-text('500')");
  await page.click("header nav a:has-text('Incidents')");
  await page.click("[data-testid=incidents] tr:has-text('ORDER_INVALID') button");
  await page.waitForSelector(".notice-line:has-text('retried')");
  await page.goto(`${base}/#${failing}`);
  await page.waitForSelector(".title .status-completed");
  await screenshot("incident-retried-completed");

  // the counters, live: both orders are counted as completed
  await page.click("header nav a:has-text('Overview')");
  await page.waitForSelector("[data-testid=counters] tr:has-text('order-processing') td:nth-child(3):has-text('2')");
  await screenshot("overview-after");

  if (problems.length) throw new Error(`the page reported errors:\n${problems.join("\n")}`);
  console.log(`DONE ${instanceId}`);
} finally {
  await browser.close();
}
process.exit(0);

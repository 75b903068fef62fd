// All-in-one: the webhook server (the poller joins it here once it exists).
import './webhook/main.js';

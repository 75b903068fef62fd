import nodemailer from 'nodemailer';
import type { AlertsConfig } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';

export interface AlertMessage {
  subject: string;
  text: string;
}

export interface AlertSender {
  /** The channels configured, for the start-up log line. */
  channels: string[];
  /** Sends to every channel; throws only when none took the message (so the caller can retry). */
  send(message: AlertMessage): Promise<void>;
  close(): void;
}

const SEND_TIMEOUT_MS = 10_000;

/** The chat webhook and/or SMTP from config; undefined when neither is set (alerts off). */
export function createAlertSender(config: AlertsConfig, log: Logger): AlertSender | undefined {
  const channels: { name: string; send: (m: AlertMessage) => Promise<void> }[] = [];
  const { webhookUrl, smtp } = config;
  if (webhookUrl !== undefined) {
    channels.push({
      name: 'webhook',
      async send({ subject, text }) {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ text: `${subject}\n${text}` }),
          signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
        });
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`the alert webhook answered ${response.status}`);
      },
    });
  }
  const transport =
    smtp &&
    nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      auth: smtp.user !== undefined ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
      connectionTimeout: SEND_TIMEOUT_MS,
      greetingTimeout: SEND_TIMEOUT_MS,
      socketTimeout: SEND_TIMEOUT_MS,
    });
  if (smtp && transport) {
    channels.push({
      name: 'email',
      async send({ subject, text }) {
        await transport.sendMail({ from: smtp.from, to: smtp.to.join(', '), subject, text });
      },
    });
  }
  if (channels.length === 0) return undefined;
  return {
    channels: channels.map((c) => c.name),
    async send(message) {
      const results = await Promise.allSettled(channels.map((c) => c.send(message)));
      results.forEach((result, i) => {
        if (result.status === 'rejected') log.error({ err: result.reason, channel: channels[i]!.name }, 'alert could not be sent');
      });
      if (results.every((r) => r.status === 'rejected')) throw new Error(`no alert channel took the message (${channels.map((c) => c.name).join(', ')})`);
    },
    close() {
      transport?.close();
    },
  };
}

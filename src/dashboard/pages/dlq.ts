/** Dead letters of a group (topic %DLQ%{group}): see them, resend the selected ones or all to their origin topic. */
import { get, post, qs, seg } from '../api';
import { add, alert, empty, errorBox, field, fill, h, link, panel, preview, run, select, table, time } from '../dom';
import type { Ctx } from '../main';
import type { DeadLetter, DlqResendResult, Group, GroupSummary, Page } from '../types';
import { messageHref } from './messages';

export async function dlqPage(ctx: Ctx): Promise<void> {
  const group = ctx.params[0] ?? '';
  const groups = await get<{ groups: GroupSummary[] }>('/v1/groups').then((r) => r.groups.map((g) => g.name).sort()).catch((e) => { add(ctx.root, errorBox(e)); return [] as string[]; });
  if (!ctx.alive()) return;
  const pick = groups.length
    ? select('group', ['', ...groups, ...(group && !groups.includes(group) ? [group] : [])].map((g) => [g, g || 'Choose a group…'] as [string, string]), group, { 'aria-label': 'Group' })
    : h('input', { name: 'group', value: group, placeholder: 'consumer group', required: true });
  const form = h('form', { class: 'form inline', 'data-testid': 'dlq-group' }, field('Group', pick), h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show dead letters')));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); const g = pick.value.trim(); if (g) ctx.go(`#/dlq/${seg(g)}`); });
  pick.addEventListener('change', () => { if (pick instanceof HTMLSelectElement && pick.value) ctx.go(`#/dlq/${seg(pick.value)}`); });
  add(ctx.root, h('h1', null, 'Dead letters'),
    h('p', { class: 'muted' }, 'A message goes to its group\'s dead-letter topic %DLQ%{group} when its last allowed delivery (1 + maxRetries) fails. Resending puts it back on its origin topic, for that group only.'),
    panel('Group', form));
  if (!group) {
    add(ctx.root, groups.length
      ? empty('Choose a group to see its dead letters.')
      : empty('No consumer groups yet, so no dead letters.', 'Groups appear once consumers receive from a topic.'));
    return;
  }

  const cfg = await get<Group>(`/v1/groups/${seg(group)}`).catch(() => null);
  const out = h('div', { class: 'out', 'data-testid': 'dlq-result' });
  const body = h('div', { 'data-testid': 'dlq-list' });
  const more = h('div', { class: 'actions' });
  const selBtn = h('button', { type: 'button', class: 'primary', disabled: true, 'data-testid': 'resend-selected' }, 'Resend selected');
  const allBtn = h('button', { type: 'button', 'data-testid': 'resend-all' }, 'Resend all not yet resent');
  const rows: DeadLetter[] = [];
  const selected = new Set<string>();
  const dlqTopic = `%DLQ%${group}`;
  const syncButtons = () => {
    selBtn.disabled = selected.size === 0;
    selBtn.textContent = selected.size ? `Resend selected (${selected.size})` : 'Resend selected';
    allBtn.disabled = !rows.some((r) => !r.resent);
  };
  const render = () => {
    if (!rows.length) {
      fill(body, empty(`No dead letters for group ${group}.`,
        `Messages land here after ${cfg ? 1 + cfg.maxRetries : '1 + maxRetries'} failed deliveries${cfg ? ` (maxRetries is ${cfg.maxRetries})` : ''}. `,
        link(`#/groups/${seg(group)}`, 'See the group'), ' for its retrying messages.'));
      syncButtons();
      return;
    }
    const all = h('input', { type: 'checkbox', 'aria-label': 'Select all not yet resent' });
    const open = rows.filter((r) => !r.resent);
    all.checked = open.length > 0 && open.every((r) => selected.has(r.messageId));
    all.addEventListener('change', () => { for (const r of open) { if (all.checked) selected.add(r.messageId); else selected.delete(r.messageId); } render(); });
    fill(body, table([
      {
        label: '', cell: (r: DeadLetter) => h('input', {
          type: 'checkbox', checked: selected.has(r.messageId), disabled: !!r.resent, 'aria-label': `select ${r.messageId}`, 'data-id': r.messageId,
          onchange: (ev: Event) => { if ((ev.target as HTMLInputElement).checked) selected.add(r.messageId); else selected.delete(r.messageId); render(); },
        }),
      },
      { label: 'Dead letter', cell: (r) => link(messageHref(dlqTopic, r.messageId), h('code', null, r.messageId)) },
      { label: 'Origin', cell: (r) => (r.properties?.ORIGIN_TOPIC ? [link(`#/topics/${seg(r.properties.ORIGIN_TOPIC)}`, r.properties.ORIGIN_TOPIC), ' ',
        r.properties.ORIGIN_MESSAGE_ID ? link(messageHref(r.properties.ORIGIN_TOPIC, r.properties.ORIGIN_MESSAGE_ID), h('code', { class: 'small' }, r.properties.ORIGIN_MESSAGE_ID)) : null] : '—') },
      { label: 'Keys / tag', cell: (r) => [(r.keys ?? []).join(', '), r.tag ? ` [${r.tag}]` : ''] },
      { label: 'Dead-lettered', cell: (r) => time(r.storeTimestamp) },
      { label: 'Body', cell: (r) => h('span', { class: 'preview' }, preview(r.body, r.encoding, 50)) },
      {
        label: 'Resent', cell: (r) => (r.resent
          ? h('span', { class: 'badge badge-consumed' }, `resent ${time(r.resent.at)}`)
          : h('span', { class: 'muted' }, 'not yet')),
      },
    ], rows, { 'data-testid': 'dlq-table' }));
    syncButtons();
  };
  const load = async () => {
    rows.length = 0;
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) { // up to 1000 here; "Load more" is not needed for a page of work
      const r = await get<Page<DeadLetter>>(`/v1/groups/${seg(group)}/dlq${qs({ limit: 100, cursor })}`);
      rows.push(...r.messages);
      cursor = r.cursor;
      if (!cursor) break;
    }
    if (!ctx.alive()) return;
    for (const id of [...selected]) if (!rows.some((r) => r.messageId === id && !r.resent)) selected.delete(id);
    fill(more, cursor ? h('span', { class: 'muted small' }, 'Showing the first 1000 dead letters; resend them to see the next ones.') : null);
    render();
  };
  const resent = (r: DlqResendResult) => alert(r.failed.length ? 'warn' : 'ok',
    h('div', null, `Resent ${r.resent.length} message${r.resent.length === 1 ? '' : 's'} to their origin topic for group ${group}`, r.failed.length ? `; ${r.failed.length} failed:` : '.'),
    r.resent.length ? h('ul', { class: 'plain small' }, r.resent.slice(0, 20).map((x) => h('li', null, h('code', null, x.messageId), ' → ', link(messageHref(x.topic, x.newMessageId), `${x.topic} / ${x.newMessageId}`)))) : null,
    r.failed.length ? h('ul', { class: 'plain small' }, r.failed.map((f) => h('li', null, h('code', null, f.messageId), `: ${f.reason}`))) : null);
  // run() enables its button again when done: which ones make sense then is for syncButtons to say
  selBtn.addEventListener('click', () => void run(selBtn, out, async () => {
    const r = await post<DlqResendResult>(`/v1/groups/${seg(group)}/dlq/resend`, { messageIds: [...selected] });
    selected.clear();
    await load();
    return resent(r);
  }).then(syncButtons));
  allBtn.addEventListener('click', () => {
    const n = rows.filter((r) => !r.resent).length;
    if (!confirm(`Resend all ${n}${rows.length >= 1000 ? '+' : ''} dead letters of group "${group}" that were not resent yet?`)) return;
    void run(allBtn, out, async () => {
      const r = await post<DlqResendResult>(`/v1/groups/${seg(group)}/dlq/resend`, {});
      selected.clear();
      await load();
      return resent(r);
    }).then(syncButtons);
  });
  add(ctx.root, panel(['Dead letters of ', link(`#/groups/${seg(group)}`, group)], h('div', { class: 'actions' }, selBtn, allBtn), out, body, more));
  // refreshed every 10 s, but not while the user has a selection or a resend is running
  ctx.every(10_000, async () => { if (selected.size || out.textContent === 'Working…') return; await load(); });
}

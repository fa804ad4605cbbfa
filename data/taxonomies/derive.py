#!/usr/bin/env python3
"""Derives the taxonomy files the product loads (data/taxonomies/*.json) from the upstream copies in
../shared/standards (see README.md). Deterministic: running it twice gives the same bytes.

    python3 data/taxonomies/derive.py ../shared/standards data/taxonomies

Needs PyYAML (ATLAS ships as YAML).
"""
import json
import re
import sys
from pathlib import Path

import yaml

MAX_DESCRIPTION = 400

# Our base severity (0-10) per OWASP concept, the first factor of the findings severity policy.
# Keyed by the 2026 id; 2025 and 2023 entries take the value of the concept they carry into 2026
# (README.md gives the rationale). 2023 entries whose move was only partial get their own value below.
SEVERITY_2026 = {
    'LLM01': 8,  # Prompt Injection
    'LLM02': 8,  # Sensitive Information Disclosure
    'LLM03': 8,  # Excessive Agency
    'LLM04': 7,  # Supply Chain
    'LLM05': 7,  # Data and Model Poisoning
    'LLM06': 5,  # Unbounded Consumption
    'LLM07': 5,  # Misinformation
    'LLM08': 7,  # Hidden Context Exposure
    'LLM09': 6,  # Vector and Embedding Weaknesses
    'LLM10': 7,  # Improper Output Handling
}
SEVERITY_2023_PARTIAL = {
    'LLM07': 8,  # Insecure Plugin Design: split into Excessive Agency (8) and Improper Output Handling (7); the higher
    'LLM10': 6,  # Model Theft: only model extraction moved into Unbounded Consumption; IP loss weighs more than exhaustion
}

LINK = re.compile(r'\[([^\]]*)\]\([^)]*\)')


def plain(markdown: str, limit: int = MAX_DESCRIPTION) -> str:
    """First paragraph, Markdown links reduced to their text, whitespace collapsed, cut at a word."""
    text = ' '.join(LINK.sub(r'\1', markdown.strip().split('\n\n')[0]).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(' ', 1)[0].rstrip(',;:')
    return cut + '\u2026'


def owasp(source: Path) -> dict:
    editions = json.loads((source / 'owasp-llm' / 'editions.json').read_text('utf-8'))
    to25 = {a: b for a, b, _ in editions['crosswalk_2025_to_2026']}
    to25_from23 = {}
    for a, b, relation in editions['crosswalk_2023_to_2025']:
        to25_from23.setdefault(a, []).append((b, relation))
    sev = {'2026': dict(SEVERITY_2026), '2025': {k: SEVERITY_2026[v] for k, v in to25.items()}, '2023': {}}
    for entry, links in to25_from23.items():
        sev['2023'][entry] = SEVERITY_2023_PARTIAL.get(entry, sev['2025'][links[0][0]])
    out = {'editions': {}}
    for year in ('2026', '2025', '2023'):
        entries = editions['editions'][year]
        missing = set(entries) - set(sev[year])
        if missing:
            raise SystemExit(f'no base severity for {year} {sorted(missing)}')
        out['editions'][year] = [{'id': k, 'title': v, 'baseSeverity': sev[year][k]} for k, v in entries.items()]
    out['crosswalks'] = {
        '2023-2025': [{'from': a, 'to': b, 'relation': r} for a, b, r in editions['crosswalk_2023_to_2025']],
        '2025-2026': [{'from': a, 'to': b, 'relation': r} for a, b, r in editions['crosswalk_2025_to_2026']],
    }
    out['newIn2025'] = editions['new_in_2025']
    return {'formatVersion': 1, 'source': 'OWASP Top 10 for LLM Applications 2023 (v1.1), 2025, 2026 (OWASP GenAI Security Project)', 'licence': 'CC BY-SA 4.0', **out}


def atlas(source: Path) -> dict:
    data = yaml.safe_load((source / 'mitre-atlas' / 'ATLAS.yaml').read_text('utf-8'))
    matrix = data['matrices'][0]
    tactics = [{'id': t['id'], 'name': t['name'], 'description': plain(t['description'])} for t in matrix['tactics']]
    by_id = {t['id']: t for t in matrix['techniques']}
    techniques = []
    for t in matrix['techniques']:
        parent = t.get('subtechnique-of')
        # ATLAS lists tactics on techniques only; a sub-technique serves its parent's tactics.
        node = {'id': t['id'], 'name': t['name'], 'description': plain(t['description']), 'tactics': t.get('tactics') or by_id[parent].get('tactics', [])}
        if parent:
            node['parent'] = parent
        techniques.append(node)
    return {'formatVersion': 1, 'source': 'MITRE ATLAS (mitre-atlas/atlas-data dist/ATLAS.yaml)', 'licence': 'Apache-2.0, \u00a9 2021-2025 The MITRE Corporation', 'version': str(data['version']), 'tactics': tactics, 'techniques': techniques}


def ai_rmf(source: Path) -> dict:
    playbook = json.loads((source / 'nist-ai-rmf' / 'nist_ai_rmf_playbook.json').read_text('utf-8'))
    subcategories = [{'id': s['title'].strip(), 'function': s['type'], 'description': plain(s['description'], 600)} for s in playbook]
    return {'formatVersion': 1, 'source': 'NIST AI RMF 1.0 Playbook (April 2023)', 'licence': 'Public domain (US Government work)', 'version': '1.0', 'subcategories': subcategories}


def dump(value: dict, path: Path) -> None:
    """One node per line: small diffs when upstream changes, still compact."""
    lines = ['{']
    items = list(value.items())
    for index, (key, item) in enumerate(items):
        comma = ',' if index < len(items) - 1 else ''
        if isinstance(item, list) and item and isinstance(item[0], dict):
            body = ',\n'.join('  ' + json.dumps(row, ensure_ascii=False) for row in item)
            lines.append(f'{json.dumps(key)}: [\n{body}\n]{comma}')
        elif isinstance(item, dict):
            lines.append(f'{json.dumps(key)}: {{')
            keys = list(item.items())
            for sub_index, (sub_key, rows) in enumerate(keys):
                sub_comma = ',' if sub_index < len(keys) - 1 else ''
                body = ',\n'.join('    ' + json.dumps(row, ensure_ascii=False) for row in rows)
                lines.append(f'  {json.dumps(sub_key)}: [\n{body}\n  ]{sub_comma}')
            lines.append('}' + comma)
        else:
            lines.append(f'{json.dumps(key)}: {json.dumps(item, ensure_ascii=False)}{comma}')
    lines.append('}')
    text = '\n'.join(lines) + '\n'
    json.loads(text)
    path.write_text(text, 'utf-8')


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    dump(owasp(source), target / 'owasp-llm.json')
    dump(atlas(source), target / 'mitre-atlas.json')
    dump(ai_rmf(source), target / 'nist-ai-rmf.json')


if __name__ == '__main__':
    main()

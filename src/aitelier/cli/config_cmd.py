"""`ait config get [KEY]` and `ait config set KEY VALUE`: the project settings, without editing JSON by hand.

The values are checked like the rest of the config, and written atomically under the project lock
(:meth:`aitelier.project.Project.set_setting`).
"""

from __future__ import annotations

import json

import click

from .common import echo_json, get_env, open_project


@click.group("config")
def config() -> None:
    """Read or change the project's settings in .aitelier.json.

    \b
    Keys: provider, model, systemPrompt, qualityThreshold
    (also: threshold, system-prompt)

    \b
    Examples:
      ait config get
      ait config get threshold
      ait config set qualityThreshold 7
      ait config set systemPrompt "You answer in one sentence."
    """


@config.command("get")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the value(s) as JSON.")
def get(key: str | None, as_json: bool) -> None:
    """Print a setting's value, or every setting.

    With KEY, prints the bare value (nothing for an unset one), for scripts; without, `key = value` lines.
    """
    from ..project import SETTINGS, setting_key

    env = get_env()
    project = open_project()
    if key is not None:
        name = setting_key(key)
        value = project.config.get(name)
        if as_json:
            echo_json(env, value)
        elif value is not None:
            env.out(value if isinstance(value, str) else json.dumps(value))
        return
    values = {name: project.config.get(name) for name in SETTINGS}
    if as_json:
        echo_json(env, values)
        return
    for name, value in values.items():
        env.out(f"{name} = {'(unset)' if value is None else json.dumps(value, ensure_ascii=False)}")


@config.command("set")
@click.argument("key")
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE (checked first; an empty systemPrompt removes it).

    Changing qualityThreshold, model or provider makes data/train.jsonl and data/val.jsonl stale: `ait stats`
    says so and `ait train` refuses them until `ait format` writes them again.
    """
    from .. import freshness
    from ..project import setting_key

    env = get_env()
    project = open_project()
    name = setting_key(key)
    old, new = project.set_setting(name, value)
    shown = {
        k: "(unset)" if v is None else json.dumps(v, ensure_ascii=False) for k, v in (("o", old), ("n", new))
    }
    if old == new:
        env.out(f"{name} is already {shown['n']}; nothing changed.")
        return
    env.out(f"{name}: {shown['o']} -> {shown['n']}")
    if name == "systemPrompt":
        env.out("It applies to examples added from now on; the existing ones keep their system message.")
    elif name == "provider":
        env.out(f"The model is still {project.model}: `ait config set model NAME` picks one for {new}.")
    state = freshness.check(project)
    if state.state == "stale":
        env.out("data/train.jsonl and data/val.jsonl are stale now: run `ait format` before `ait train`.")

"""The short Chinese pages a browser gets when signing in goes wrong (no script, styled by
the login page's own stylesheet, so the security policy holds)."""

from __future__ import annotations

from html import escape

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · gridbot</title>
<link rel="stylesheet" href="/static/login.css">
</head>
<body>
<main class="card">
<h1>{title}</h1>
<p>{text}</p>
<p class="links"><a href="{link}">{link_text}</a></p>
</main>
</body>
</html>
"""


def page(status: int, title: str, text: str, *, link: str = "/login",
         link_text: str = "用账号密码或一次性链接登录") -> web.Response:
    body = _PAGE.format(title=escape(title), text=escape(text), link=escape(link, quote=True),
                        link_text=escape(link_text))
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")


def bad_state() -> web.Response:
    return page(400, "登录链接已失效",
                "这次登录请求无效或已超过 10 分钟。请回到企业微信，重新点开任务卡片的「详情」。")


def exchange_failed() -> web.Response:
    return page(502, "企业微信登录没有成功",
                "gridbot 暂时没能向企业微信确认您的身份，请稍后重新点开任务卡片的「详情」。"
                "多次失败请联系街道管理员。")


def not_a_member() -> web.Response:
    return page(403, "无法登录",
                "只有本单位企业微信中的工作人员可以登录。请用工作账号打开任务卡片的「详情」。")


def unknown_person(userid: str) -> web.Response:
    return page(403, "无法登录",
                f"您的企业微信账号（{userid}）不在网格工作人员名单中，请联系街道管理员把您加入名单。")


def wecom_off() -> web.Response:
    return page(404, "未启用企业微信登录",
                "这里没有配置企业微信应用，请用账号密码或一次性链接登录。")

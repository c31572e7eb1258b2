"""Sign-in form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    """Email and password."""

    email = EmailField(
        "Email", validators=[DataRequired(message="Enter your email address."), Length(max=320)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(message="Enter your password."), Length(max=1024)]
    )
    remember = BooleanField("Keep me signed in")


class ChangePasswordForm(FlaskForm):
    """The current password, and the new one typed twice."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(message="Type your current password."), Length(max=1024)],
    )
    new_password = PasswordField(
        "New password",
        validators=[
            DataRequired(message="Choose a new password."),
            Length(min=8, max=1024, message="Use at least 8 characters."),
        ],
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired(message="Type the new password again."),
            EqualTo("new_password", message="The two new passwords differ. Type them again."),
        ],
    )

"""Sign-in in progress and signed-in browsers, apart from Flask: transactions and browser sessions."""
